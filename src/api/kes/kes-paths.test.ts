// The KES face serves exactly the paths of the protocol's table (src/protocol/kes/paths.ts), which
// the config file's `api:` section, the core's KES policy checks and the SDK use.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KES_ROUTE_PATHS } from '../../protocol/kes/index.ts';
import { kesRoutePaths } from './kes-face.ts';

describe('KES route paths', () => {
  it('are the paths of the protocol table, each once', () => {
    const served = kesRoutePaths();
    assert.equal(new Set(served).size, served.length);
    assert.deepEqual([...served].sort(), [...KES_ROUTE_PATHS].sort());
  });
});
