#!/usr/bin/env node
// Entry point of the operator (and of its `snapshot` agent subcommands).
import { requireNode24 } from "./node-version.js";

requireNode24("kubelab-operator");
await import("../operator/main.ts");
