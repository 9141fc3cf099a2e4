// Fails early, with the way out, when the program is started by a Node.js older than 24.

/** Exits with code 2 and one line of advice unless this is Node.js 24 or newer. */
export function requireNode24(program) {
  const major = Number(process.versions.node.split(".")[0]);
  if (major >= 24) return;
  process.stderr.write(
    `${program}: needs Node.js 24 or newer (this is ${process.version}).\n` +
      `  Run it through npm, which uses the Node 24 that \`npm ci\` installs in node_modules: npx ${program} --help\n` +
      `  or install Node.js 24 LTS from https://nodejs.org.\n`,
  );
  process.exit(2);
}
