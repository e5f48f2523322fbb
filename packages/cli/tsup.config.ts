import { defineConfig } from 'tsup';
import shared from '../../config/tsup.config.ts';

// The shared config plus the executable: `dist/bin.js` starts with a shebang (kept by esbuild from src/bin.ts).
export default defineConfig({ ...(shared as object), entry: ['src/index.ts', 'src/bin.ts'], platform: 'node' });
