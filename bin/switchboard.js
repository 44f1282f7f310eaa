#!/usr/bin/env node
// The `switchboard` command (package.json "bin"): runs src/main.ts through tsx, in this process, with the same
// arguments (process.argv[2] is the command, as with `tsx src/main.ts`).
import { register } from 'tsx/esm/api';

register();
await import(import.meta.resolve('../src/main.ts'));
