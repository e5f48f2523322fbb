#!/usr/bin/env node
import { main } from './main.js';

const code = await main(process.argv.slice(2));
process.exitCode = code;
// a library timer or handle must not keep a finished command alive
setTimeout(() => process.exit(code), 200).unref();
