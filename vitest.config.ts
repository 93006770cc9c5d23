import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

// SWC compiles the sources so that Nest's decorators keep their design-time
// metadata (esbuild, Vite's default, drops it and dependency injection breaks).
export default defineConfig({
  plugins: [swc.vite({ module: { type: 'es6' } })],
  test: {
    globals: true,
    environment: 'node',
    include: ['src/**/*.spec.ts', 'test/**/*.e2e-spec.ts'],
    pool: 'forks',
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
