#!/usr/bin/env node
// Entry point of the `bootstrap` CLI. Node 24 runs the TypeScript sources directly (type stripping).
import { requireNode24 } from "./node-version.js";

requireNode24("bootstrap");
await import("../bootstrap/cli.ts");
