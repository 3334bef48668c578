// The import rules of the layout (docs/architecture.md), checked by `npm run deps:check` in CI.
// core/platform is the machinery; core/orders, photos, notifications and privacy are the rules that
// use it; api/, worker/ and scheduler/ are the roles, which use both and never one another.
// Every folder of core/ but the platform is a domain (orders, photos, accounts, ...).
const DOMAIN = '^core/(?!platform/)[^/]+/';
const ROLES = '^(api|worker|scheduler)/';
const ENTRIES = '^(main[.]ts$|scripts/|bench/|test/)';

module.exports = {
  forbidden: [
    { name: 'no-cycles', severity: 'error', comment: 'A cycle ties modules together for good: break it (move the shared part, or the type).', from: {}, to: { circular: true } },
    {
      name: 'platform-imports-no-domain',
      severity: 'error',
      comment: 'core/platform is the floor: it knows nothing of orders, photos, notifications or privacy rules, nor of who runs it.',
      from: { path: '^core/platform/' },
      to: { path: [DOMAIN, ROLES, '^models/', ENTRIES] },
    },
    {
      name: 'core-imports-no-role',
      severity: 'error',
      comment: 'core/ is shared by every role: it imports none of them, nor the scripts, benchmarks or tests.',
      from: { path: '^core/' },
      to: { path: [ROLES, ENTRIES] },
    },
    {
      name: 'roles-apart',
      severity: 'error',
      comment: 'api/, worker/ and scheduler/ import the domain and the platform, never one another.',
      from: { path: ROLES },
      to: { path: ROLES, pathNot: '^$1/' },
    },
    {
      name: 'api-holds-no-database',
      severity: 'error',
      comment:
        'api/ translates HTTP to the use cases in core/ and back: it imports neither the database module nor kysely, so it builds no query. It names row types through core/platform/records.ts.',
      from: { path: '^api/' },
      to: { path: ['^core/platform/db[.]ts$', '^node_modules/kysely/'] },
    },
    {
      name: 'jobs-hold-no-database',
      severity: 'error',
      comment:
        'worker/ and scheduler/ translate a job to the use cases in core/ and back: they import neither the database module nor kysely, so they build no query. Row types come through core/platform/records.ts.',
      from: { path: '^(worker|scheduler)/' },
      to: { path: ['^core/platform/db[.]ts$', '^node_modules/kysely/'] },
    },
    {
      name: 'routes-apart',
      severity: 'error',
      comment: 'A route file imports no other route file: what two routes share lives in api/ (presentation) or core/ (rules).',
      from: { path: '^api/routes/' },
      to: { path: '^api/routes/' },
    },
    {
      name: 'models-import-no-role',
      severity: 'error',
      comment: 'models/ runs the networks for the worker; it imports no role, script or test.',
      from: { path: '^models/' },
      to: { path: [ROLES, ENTRIES] },
    },
    {
      name: 'release-data-imports-platform-only',
      severity: 'error',
      comment: 'migrations/ and policies/ are read by the platform at migrate time, so they import nothing above it.',
      from: { path: '^(migrations|policies)/' },
      to: { path: [DOMAIN, ROLES, '^models/', ENTRIES] },
    },
    { name: 'no-unresolvable', severity: 'error', comment: 'An import that resolves to nothing.', from: {}, to: { couldNotResolve: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // node_modules is not followed but stays in the graph, so a rule can name a package (kysely).
    exclude: { path: '^(bench/peer|clients|dist)/' },
    // TypeScript 7 has no JavaScript API, so swc parses; type-only imports count, as a cycle of types is a cycle.
    parser: 'swc',
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.mts', '.mjs', '.js', '.json', '.d.ts'], exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
