// Summarises one run of the MCP conformance suite (server mode).
//
// Usage: node conformance-summary.mjs RESULTS_DIR LOG_FILE CLI_EXIT_CODE
//
// RESULTS_DIR is the suite's --output-dir: one sub-directory per scenario,
// named server-<scenario>-<timestamp>, each holding checks.json.
// LOG_FILE is the suite's console output; its "=== SUMMARY ===" block is the
// authoritative list of scenarios (it also names scenarios that crashed before
// writing checks.json).
//
// Prints ONE line of JSON on stdout and writes the same object, pretty-printed
// and with per-check failure messages, to RESULTS_DIR/summary.json.
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const [resultsDir, logFile, cliExitArg] = process.argv.slice(2);
if (!resultsDir || !logFile) {
  console.error('usage: conformance-summary.mjs RESULTS_DIR LOG_FILE CLI_EXIT_CODE');
  process.exit(2);
}
const cliExit = Number.parseInt(cliExitArg ?? '0', 10);

// checks.json per scenario, from the results directory.
const dirRe = /^server-(.+)-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$/;
const checksByScenario = new Map();
for (const entry of existsSync(resultsDir) ? readdirSync(resultsDir) : []) {
  const m = dirRe.exec(entry);
  const file = join(resultsDir, entry, 'checks.json');
  if (!m || !existsSync(file)) continue;
  try {
    checksByScenario.set(m[1], JSON.parse(readFileSync(file, 'utf8')));
  } catch (err) {
    checksByScenario.set(m[1], [
      { id: m[1], status: 'FAILURE', errorMessage: `unreadable checks.json: ${err.message}` },
    ]);
  }
}

// Scenario list from the console summary ("✓ name: 1 passed, 0 failed").
const log = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
const lineRe = /^[✓✗] (\S+): (\d+) passed, (\d+) failed/;
const fromLog = new Map();
for (const line of log.split('\n')) {
  const m = lineRe.exec(line.trim());
  if (m) fromLog.set(m[1], { passed: Number(m[2]), failed: Number(m[3]) });
}
// A run of a single scenario (--scenario) prints no summary block.
const names = fromLog.size > 0 ? [...fromLog.keys()] : [...checksByScenario.keys()].sort();

const scenarios = [];
for (const name of names) {
  const checks = checksByScenario.get(name);
  const count = (s) => (checks ? checks.filter((c) => c.status === s).length : 0);
  let passed = count('SUCCESS');
  let failed = count('FAILURE');
  const warnings = count('WARNING');
  const messages = checks
    ? checks
        .filter((c) => c.status === 'FAILURE' || c.status === 'WARNING')
        .map((c) => ({ check: c.id, status: c.status, message: c.errorMessage ?? c.details?.message ?? c.description }))
    : [];
  if (!checks) {
    // Scenario crashed before writing results: trust the console line.
    const l = fromLog.get(name);
    passed = l?.passed ?? 0;
    failed = Math.max(l?.failed ?? 1, 1);
    messages.push({ check: name, status: 'FAILURE', message: 'scenario crashed (no checks.json); see conformance.log' });
  }
  scenarios.push({ name, ok: failed === 0, passed, failed, warnings, messages });
}

const summary = {
  passed: scenarios.filter((s) => s.ok).length,
  failed: scenarios.filter((s) => !s.ok).length,
  total: scenarios.length,
  checks_passed: scenarios.reduce((n, s) => n + s.passed, 0),
  checks_failed: scenarios.reduce((n, s) => n + s.failed, 0),
  checks_warnings: scenarios.reduce((n, s) => n + s.warnings, 0),
  failed_scenarios: scenarios.filter((s) => !s.ok).map((s) => s.name),
  warning_scenarios: scenarios.filter((s) => s.warnings > 0).map((s) => s.name),
  passed_scenarios: scenarios.filter((s) => s.ok).map((s) => s.name),
  cli_exit_code: cliExit,
  results_dir: resultsDir,
};

writeFileSync(join(resultsDir, 'summary.json'), JSON.stringify({ ...summary, scenarios }, null, 2) + '\n');
process.stdout.write(JSON.stringify(summary) + '\n');
