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
