// Just enough of the tar format for npm package tarballs: read one file out of a .tgz, and pack an installed
// package's directory into one (what `npm pack` would publish; npm cannot pack directories of pnpm's store).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';

const BLOCK = 512;

function octal(bytes: Uint8Array, start: number, length: number): number {
  const text = new TextDecoder().decode(bytes.subarray(start, start + length)).replace(/\0.*$/s, '').trim();
  return text ? parseInt(text, 8) : 0;
}

function text(bytes: Uint8Array, start: number, length: number): string {
  return new TextDecoder().decode(bytes.subarray(start, start + length)).replace(/\0.*$/s, '');
}

/** The files of a .tgz by path (PAX long names understood). */
export function readTarGz(tgz: Uint8Array): Map<string, Uint8Array> {
  const tar = new Uint8Array(gunzipSync(tgz));
  const files = new Map<string, Uint8Array>();
  let longName: string | null = null;
  for (let at = 0; at + BLOCK <= tar.length; ) {
    const header = tar.subarray(at, at + BLOCK);
    if (header.every((b) => b === 0)) break;
    const size = octal(header, 124, 12);
    const type = String.fromCharCode(header[156] || 48);
    const body = tar.subarray(at + BLOCK, at + BLOCK + size);
    const prefix = text(header, 345, 155);
    const name = longName ?? (prefix ? `${prefix}/${text(header, 0, 100)}` : text(header, 0, 100));
    longName = null;
    if (type === 'x') {
      const path = /\d+ path=([^\n]*)\n/.exec(new TextDecoder().decode(body));
      longName = path ? path[1] : null;
    } else if (type === 'L') {
      longName = text(body, 0, body.length);
    } else if (type === '0' || type === '\0') {
      files.set(name, body.slice());
    }
    at += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
  }
  return files;
}

function header(name: string, size: number, mode: number, type = '0'): Uint8Array {
  const h = new Uint8Array(BLOCK);
  const put = (s: string, start: number, length: number) => h.set(new TextEncoder().encode(s).subarray(0, length), start);
  const num = (n: number, start: number, length: number) => put(`${n.toString(8).padStart(length - 1, '0')}\0`, start, length);
  put(name, 0, 100);
  num(mode & 0o7777, 100, 8);
  num(0, 108, 8);
  num(0, 116, 8);
  num(size, 124, 12);
  num(0, 136, 12); // mtime: fixed, so the same directory packs to the same bytes
  put('        ', 148, 8);
  put(type, 156, 1);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  num(h.reduce((a, b) => a + b, 0), 148, 7);
  return h;
}

const pad = (n: number) => new Uint8Array((BLOCK - (n % BLOCK)) % BLOCK);

/** Pack a directory (without nested node_modules) as `package/…` into a .tgz, keeping file modes. */
export function packDirectory(dir: string): Uint8Array {
  const chunks: Uint8Array[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = join(d, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(full);
        continue;
      }
      const st = statSync(full);
      if (!st.isFile()) continue;
      const name = `package/${relative(dir, full).split(sep).join('/')}`;
      const body = readFileSync(full);
      if (Buffer.byteLength(name) > 100) {
        const record = ` path=${name}\n`;
        let len = Buffer.byteLength(record) + 3;
        while (Buffer.byteLength(`${len}${record}`) !== len) len = Buffer.byteLength(`${len}${record}`);
        const pax = new TextEncoder().encode(`${len}${record}`);
        chunks.push(header('PaxHeader', pax.length, 0o644, 'x'), pax, pad(pax.length));
      }
      chunks.push(header(name, body.length, st.mode), body, pad(body.length));
    }
  };
  walk(dir);
  chunks.push(new Uint8Array(BLOCK * 2));
  return new Uint8Array(gzipSync(Buffer.concat(chunks)));
}
