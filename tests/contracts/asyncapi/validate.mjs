// Validates AsyncAPI documents with @asyncapi/parser; one JSON line per diagnostic on stdout,
// exit 1 when any is an error (severity 0). Usage: node validate.mjs FILE...
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const parser = new Parser();
let failed = false;
for (const file of process.argv.slice(2)) {
  const diagnostics = await parser.validate(readFileSync(file, "utf8"), { source: file });
  for (const d of diagnostics) {
    console.log(JSON.stringify({ file, severity: d.severity, code: d.code, message: d.message, path: d.path.join("/") }));
    if (d.severity === 0) failed = true;
  }
}
process.exit(failed ? 1 : 0);
