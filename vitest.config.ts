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
    // Two files at a time even on a 2-core machine (Vitest's default there is one): most e2e time is spent
    // waiting (Twilio stand-in latency, dispatch rate limits, child processes booting), not computing.
    maxWorkers: Number(process.env.TEST_MAX_WORKERS) || 2,
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
