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
    // Three files at a time even on a 2-core machine (Vitest's default there is one): most e2e time is spent
    // waiting (Twilio stand-in latency, dispatch rate limits, child processes booting), not computing. Measured on
    // a 2-core machine: 2 workers 9.5 min, 3 workers 7.3 min (the cores 72 % busy), 4 workers 7.1 min.
    maxWorkers: Number(process.env.TEST_MAX_WORKERS) || 3,
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
