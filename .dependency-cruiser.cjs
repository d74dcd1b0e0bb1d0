// Layer rules (ARCHITECTURE.md), checked by dependency-cruiser in `npm run lint`: a violation fails CI.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', comment: 'Imports form no cycle.', from: {}, to: { circular: true } },
    {
      name: 'engine-stands-alone',
      severity: 'error',
      comment: 'Nothing in engine/ imports from provider/, constructs/ or examples/.',
      from: { path: '^engine/' },
      to: { path: '^(provider|constructs|examples)/' },
    },
    {
      name: 'constructs-emit-json-only',
      severity: 'error',
      comment:
        'The construct library only synthesizes Terraform JSON: it never imports the engine or the provider, except the API value rules (engine/contract/rules.ts, which import nothing). generate.ts and cdktf-cli.ts are build tools beside it.',
      from: { path: '^constructs/(lib/|index\\.ts)' },
      to: { path: '^(engine|provider)/', pathNot: '^engine/contract/rules\\.ts$' },
    },
    {
      name: 'provider-through-the-client',
      severity: 'error',
      comment: 'The provider reaches the engine only through its API client, the API contract and the shared error table.',
      from: { path: '^provider/' },
      to: { path: '^engine/', pathNot: '^engine/(client/|contract/|errors\\.ts)' },
    },
    {
      name: 'lower-layers-do-not-call-up',
      severity: 'error',
      comment: 'store, overlay, handoff and vm never import core, api or cli; core never imports api or cli.',
      from: { path: '^engine/(store|overlay|handoff|vm)/' },
      to: { path: '^engine/(core|api|cli)/' },
    },
    {
      name: 'io-and-images-are-the-bottom',
      severity: 'error',
      comment: 'io/ and image/ know nothing of deltas, overlays, handoffs, the store or the engine above them.',
      from: { path: '^engine/(io|image)/' },
      to: { path: '^engine/(delta|overlay|handoff|store|core|api|cli|client|vm|contract)/' },
    },
    {
      name: 'one-delta-below-its-encoders',
      severity: 'error',
      comment: 'delta/ (chunk hashing, the base index, the classifier, compression) serves the overlay codec and the handoff; it imports neither, nor anything above them.',
      from: { path: '^engine/delta/' },
      to: { path: '^engine/(overlay|handoff|store|core|api|cli|client|vm|contract)/' },
    },
    {
      name: 'store-below-the-codec',
      severity: 'error',
      comment: 'The store keeps files; it does not import the overlay codec.',
      from: { path: '^engine/store/' },
      to: { path: '^engine/overlay/' },
    },
    {
      name: 'core-below-api',
      severity: 'error',
      from: { path: '^engine/core/' },
      to: { path: '^engine/(api|cli)/' },
    },
    {
      name: 'client-is-a-client',
      severity: 'error',
      comment: 'The API client knows the API, not the engine behind it.',
      from: { path: '^engine/client/' },
      to: { path: '^engine/(core|api|store|overlay|handoff|vm)/' },
    },
    {
      name: 'contract-is-a-leaf',
      severity: 'error',
      comment: 'The API contract (routes, schemas, rules) depends on nothing of the engine but the error table; rules.ts on nothing at all.',
      from: { path: '^engine/contract/' },
      to: { path: '^engine/', pathNot: '^engine/(contract/|errors\\.ts)' },
    },
    {
      name: 'rules-import-nothing',
      severity: 'error',
      from: { path: '^engine/contract/rules\\.ts$' },
      to: {},
    },
    {
      name: 'dashboard-through-the-contract',
      severity: 'error',
      comment: 'The dashboard page runs in a browser: it reaches the engine only through the API, so it imports the contract (and the error table it names) and nothing else of the engine.',
      from: { path: '^engine/dashboard/' },
      to: { path: '^engine/', pathNot: '^engine/(dashboard/|contract/|errors\\.ts)' },
    },
    {
      name: 'nothing-imports-the-dashboard',
      severity: 'error',
      comment: 'The page is bundled by Vite and served as files; no other code imports it.',
      from: { path: '^(engine|provider|constructs|examples|test)/', pathNot: '^engine/dashboard/' },
      to: { path: '^engine/dashboard/' },
    },
    {
      name: 'routes-through-the-contract',
      severity: 'error',
      comment: 'Only the server and the clients (the engine client, the dashboard) speak routes; the rest of the engine reaches a peer through the client.',
      from: { path: '^engine/', pathNot: '^engine/(api|client|contract|cli|dashboard)/' },
      to: { path: '^engine/contract/routes\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules|constructs/generated)/' },
    tsPreCompilationDeps: true,
    // No tsConfig: its resolver would read the bare name `constructs` (the package) as our constructs/ folder.
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['require', 'node', 'default'] },
  },
};
