#!/usr/bin/env node
// Bundle size: every *.wasm and *.js in <site-root>/pkg, raw, gzip (zlib level 9) and brotli
// (quality 11) — what a first-time viewer downloads before the page can hydrate.
//
// With --base-url it also fetches each file from that server with `Accept-Encoding: br` and
// `gzip` and reports what the server really sends (it compresses on the fly) and its
// Cache-Control header.

import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { REPO, parseArgs, table, usage, writeJson } from "./lib.mjs";

const SPEC = {
  siteRoot: { type: "path", default: "target/site", help: "the built site (relative to the repo root)" },
  baseUrl: { type: "url", help: "also measure what this running server sends for each file" },
  json: { type: "path", help: "write the figures as JSON here" },
};

const args = parseArgs(SPEC);
if (args.help) {
  console.log(usage("end2end/bench/bundle-size.mjs", "Sizes of the browser bundle, raw and compressed.", SPEC));
  process.exit(0);
}

const started = Date.now();
const pkg = resolve(REPO, args.siteRoot, "pkg");
let names;
try {
  names = readdirSync(pkg).filter((n) => n.endsWith(".wasm") || n.endsWith(".js")).sort();
} catch (err) {
  console.error(`bundle-size: cannot read ${pkg}: ${err.message} (build with cargo leptos build --release)`);
  process.exit(1);
}
if (!names.length) {
  console.error(`bundle-size: no .wasm or .js in ${pkg}`);
  process.exit(1);
}

/** Bytes on the wire for `name` with `encoding`, read over a plain HTTP/1.1 socket. */
async function wireBytes(name, encoding) {
  const { request } = await import("node:http");
  const url = new URL(`${args.baseUrl.replace(/\/+$/, "")}/pkg/${name}`);
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { headers: { "accept-encoding": encoding }, timeout: 10_000 }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(new Error(`${url} answered HTTP ${res.statusCode}`));
        return;
      }
      let bytes = 0;
      res.on("data", (chunk) => (bytes += chunk.length));
      res.on("end", () =>
        resolvePromise({
          bytes,
          encoding: res.headers["content-encoding"] ?? "identity",
          cacheControl: res.headers["cache-control"] ?? null,
          status: res.statusCode,
        }),
      );
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

async function wireHasEtag(name) {
  const res = await fetch(`${args.baseUrl.replace(/\/+$/, "")}/pkg/${name}`, { method: "HEAD" });
  return res.ok && res.headers.has("etag");
}

const files = [];
for (const name of names) {
  const path = join(pkg, name);
  const data = readFileSync(path);
  const file = {
    name,
    raw: statSync(path).size,
    gzip9: gzipSync(data, { level: 9 }).length,
    brotli11: brotliCompressSync(data, {
      params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: data.length },
    }).length,
  };
  if (args.baseUrl) {
    try {
      // A server that has just started compresses the bundle in the background and serves the
      // files from disk meanwhile (no ETag): measure the copy it serves once that is done.
      const until = Date.now() + 30_000;
      while (!(await wireHasEtag(name)) && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
      file.servedBr = await wireBytes(name, "br");
      file.servedGzip = await wireBytes(name, "gzip");
    } catch (err) {
      file.servedError = err.message;
    }
  }
  files.push(file);
}
const total = files.reduce(
  (t, f) => ({ raw: t.raw + f.raw, gzip9: t.gzip9 + f.gzip9, brotli11: t.brotli11 + f.brotli11 }),
  { raw: 0, gzip9: 0, brotli11: 0 },
);
const kib = (n) => (n / 1024).toFixed(1);
const rows = [["file", "raw B", "gzip-9 B", "brotli-11 B", "raw KiB", "gzip KiB", "br KiB"]];
for (const f of files) rows.push([f.name, f.raw, f.gzip9, f.brotli11, kib(f.raw), kib(f.gzip9), kib(f.brotli11)]);
rows.push(["total", total.raw, total.gzip9, total.brotli11, kib(total.raw), kib(total.gzip9), kib(total.brotli11)]);
console.log(`bundle-size: ${pkg}\n`);
console.log(table(rows));
if (args.baseUrl) {
  console.log(`\nas ${args.baseUrl} serves them (bytes on the wire):\n`);
  console.log(
    table([
      ["file", "br", "gzip", "Cache-Control"],
      ...files.map((f) => [
        f.name,
        f.servedBr ? `${f.servedBr.bytes} (${f.servedBr.encoding})` : f.servedError,
        f.servedGzip ? `${f.servedGzip.bytes} (${f.servedGzip.encoding})` : "",
        f.servedBr?.cacheControl ?? "(none)",
      ]),
    ]),
  );
}
const durationS = Math.round((Date.now() - started) / 100) / 10;
console.log(`\nbundle-size bench took ${durationS} s`);
writeJson(args.json, { bench: "bundle-size", date: new Date().toISOString(), durationS, pkg, files, total });
