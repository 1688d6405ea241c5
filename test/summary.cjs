// The last line of test/run: "N passed, N failed" from vitest's JSON report, counting a test
// file that failed before its tests ran, and a leak check: any QEMU, virtiofsd, virsh or monitor
// of vmrun's still running after the suite is one more failure. Exits 1 when anything failed.
const { readFileSync } = require('node:fs');
const { spawnSync } = require('node:child_process');

let passed = 0;
let failed = 1;
try {
  const report = JSON.parse(readFileSync(process.argv[2], 'utf8'));
  const broken = report.testResults.filter((f) => f.status === 'failed' && !f.assertionResults.some((a) => a.status === 'failed'));
  passed = report.numPassedTests;
  failed = report.numFailedTests + broken.length;
} catch (e) {
  console.log(`no test report: ${e.message}`);
}
// vmrun's VMs are named vmrun and live under /run/vmrun-vm; other QEMUs on the host are not ours.
const ours = 'guest=vmrun|source=/run/vmrun-vm/|--socket /run/vmrun-vm/|embed\\?root=/run/vmrun-vm/|dist/src/monitor/main[.]js';
const leaked = spawnSync('pgrep', ['-a', '-f', ours], { encoding: 'utf8' }).stdout.trim();
if (leaked) console.log(`\nleaked processes:\n${leaked}`);
if (leaked) failed += 1;
else passed += 1;
console.log(`\n${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 ? 1 : 0;
