// The order jest starts suites in. With two workers and a few suites that take minutes (VMs under TCG), the
// run ends when the last long suite does: started last, one of them leaves a worker idle for minutes (jest's
// own order needs timings from an earlier run on this machine and falls back to file size, which a clean
// clone in CI has none of). So the longest suites go first, by the seconds measured in test/suite-seconds.json;
// suites not listed (short ones) follow, in jest's own order. Re-measure the table when a suite's cost changes
// much: `npx jest --json --outputFile=F`, then each suite's endTime - startTime.
// (JavaScript, not TypeScript: jest loads its sequencer before any transform is set up.)

const Sequencer = require('@jest/test-sequencer').default;
const path = require('node:path');
const seconds = require('../suite-seconds.json');

class LongestFirst extends Sequencer {
  sort(tests) {
    const known = (t) => seconds[path.relative(t.context.config.rootDir, t.path).split(path.sep).join('/')];
    const listed = tests.filter((t) => known(t) !== undefined).sort((a, b) => known(b) - known(a));
    const rest = super.sort(tests.filter((t) => known(t) === undefined));
    return [...listed, ...rest];
  }
}

module.exports = LongestFirst;
