#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (built by `npm install` via the prepare script).
import('../dist/cli/main.js')
  .then((m) => m.main(process.argv))
  .catch((err) => {
    if (err && err.code === 'ERR_MODULE_NOT_FOUND') {
      console.error('lantern: not built yet; run `npm install` (or `npm run build`) in the project directory');
      process.exit(70);
    }
    console.error('lantern:', err && err.stack ? err.stack : err);
    process.exit(70);
  });
