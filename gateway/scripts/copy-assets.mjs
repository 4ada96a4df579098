// Copies the Bootstrap Italia files the pages use into the Flask static folder (gitignored there).
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

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

// Precompressed copies beside the text files (gateway/gateway/static_files.py serves them to browsers that
// accept Brotli or gzip, after checking they decompress to the very file): the best compression, once.
const COMPRESSIBLE = new Set([".css", ".js", ".svg", ".json", ".txt"]);
function precompress(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      precompress(path);
    } else if (COMPRESSIBLE.has(extname(entry.name))) {
      const data = readFileSync(path);
      writeFileSync(`${path}.gz`, gzipSync(data, { level: 9 }));
      writeFileSync(
        `${path}.br`,
        brotliCompressSync(data, {
          params: {
            [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
            [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
          },
        }),
      );
    }
  }
}
precompress(target);
precompress(altchaTarget);
console.log("precompressed (.br, .gz) the text files of both");
