// Set for every test file before it runs: each engine the suite starts (directly, through the CLI, or through
// the provider's connectLocal) checks every JSON answer against the API contract and answers INTERNAL when
// one does not fit (engine/api/server.ts), so the whole suite also tests the contract's answer schemas.
process.env.CLOUDLET_CHECK_ANSWERS = '1';
