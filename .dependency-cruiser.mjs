// The import rules of the rooms (DESIGN.md, "Layout"), checked by `npm run check:imports`: a rule broken fails the check.
/** @type {import("dependency-cruiser").IConfiguration} */
export default {
  forbidden: [
    {
      name: "no-cycles",
      comment: "No import cycle anywhere, type-only imports included: every module has a place in one order.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "bootstrap-uses-only-the-operator-api",
      comment:
        "bootstrap/ may import operator/api/ (the schemas both programs share) and nothing else of operator/.",
      severity: "error",
      from: { path: "^bootstrap/" },
      to: { path: "^operator/", pathNot: "^operator/api/" },
    },
    {
      name: "operator-never-imports-bootstrap",
      comment: "The operator runs in the cluster: it never loads the CLI's code.",
      severity: "error",
      from: { path: "^operator/" },
      to: { path: "^bootstrap/" },
    },
    {
      name: "step-contract-imports-no-step",
      comment: "up/step.ts is the contract every step implements; it knows no step.",
      severity: "error",
      from: { path: "^bootstrap/up/step\\.ts$" },
      to: { path: "^bootstrap/up/steps/" },
    },
    {
      name: "steps-never-import-the-plan",
      comment: "The plan orders the steps; a step does not know the order it runs in.",
      severity: "error",
      from: { path: "^bootstrap/up/steps/" },
      to: { path: "^bootstrap/up/plan\\.ts$" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: {
      path: "^(node_modules|bootstrap/controlplane/go|scripts/dockerfile-lint|test/fixtures|test/unit/fixtures)/",
    },
    // Type-only imports count: a cycle through types is still two modules that cannot be read apart.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js", ".mjs", ".json"] },
  },
};
