// After `npm ci`: one line saying which Node the project runs on (the `node` devDependency), instead of npm's
// engine warnings, which .npmrc silences (npm itself may run on an older Node; nothing of ours does).
const major = Number(process.versions.node.split(".")[0]);
if (major >= 24) {
  console.log(
    `kubelab: npm scripts and npx run Node ${process.version} from node_modules (the node package); ` +
      `the machine's Node only runs npm`,
  );
} else {
  console.log(
    `kubelab: Node 24 did not come with npm ci (npm scripts would run Node ${process.version}); ` +
      `install the devDependencies: npm ci (without --omit=dev)`,
  );
}
