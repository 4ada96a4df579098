// Copies the Bootstrap Italia files the pages use into the Flask static folder (gitignored there).
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, "..", "node_modules", "bootstrap-italia", "dist");
const target = join(here, "..", "gateway", "static", "vendor", "bootstrap-italia");
const version = JSON.parse(
  readFileSync(join(here, "..", "node_modules", "bootstrap-italia", "package.json"), "utf8"),
).version;

// Start clean so files dropped by an upgrade do not linger and get served.
rmSync(target, { recursive: true, force: true });
for (const file of ["css/bootstrap-italia.min.css", "js/bootstrap-italia.bundle.min.js", "svg/sprites.svg"]) {
  mkdirSync(dirname(join(target, file)), { recursive: true });
  cpSync(join(source, file), join(target, file));
}
// Only the formats every supported browser reads (woff2, woff), plus the font licences.
cpSync(join(source, "fonts"), join(target, "fonts"), {
  recursive: true,
  filter: (path) => !/\.(eot|ttf|svg)$/.test(path),
});
// The templates append this to asset URLs, so a new version busts the long browser cache.
writeFileSync(join(target, "VERSION"), `${version}\n`);
console.log(`bootstrap-italia ${version} copied to ${target}`);

// ALTCHA, the self-hosted captcha widget of IAM's registration and recovery pages: the "external" build,
// whose styles and worker are separate files, so the CSP needs no 'unsafe-inline' (script-src 'self').
const altchaSource = join(here, "..", "node_modules", "altcha");
const altchaTarget = join(here, "..", "gateway", "static", "vendor", "altcha");
rmSync(altchaTarget, { recursive: true, force: true });
mkdirSync(altchaTarget, { recursive: true });
for (const [from, to] of [
  ["dist_external/altcha.js", "altcha.js"],
  ["dist_external/altcha.css", "altcha.css"],
  ["dist_external/worker.js", "worker.js"],
  ["dist_i18n/it.js", "i18n-it.js"],
  ["dist_i18n/en.js", "i18n-en.js"],
  ["LICENSE.txt", "LICENSE.txt"],
]) {
  cpSync(join(altchaSource, from), join(altchaTarget, to));
}
const altchaVersion = JSON.parse(readFileSync(join(altchaSource, "package.json"), "utf8")).version;
writeFileSync(join(altchaTarget, "VERSION"), `${altchaVersion}\n`);
console.log(`altcha ${altchaVersion} copied to ${altchaTarget}`);
