import { defineConfig } from 'vitest/config';

// Root entry for `vitest` from the top: every package is a project with its own re-exported config.
export default defineConfig({ test: { projects: ['packages/*'] } });
