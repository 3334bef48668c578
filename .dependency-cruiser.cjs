// The import rules of the layout (README, "How it works"), checked by `npm run deps:check` in CI.
// core/platform is the machinery; core/orders, photos, notifications and privacy are the rules that
// use it; api/, worker/ and scheduler/ are the roles, which use both and never one another.
const DOMAIN = '^core/(orders|photos|notifications|privacy|teams)/';
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
    exclude: { path: '^(node_modules|bench/peer|clients|dist)/' },
    // TypeScript 7 has no JavaScript API, so swc parses; type-only imports count, as a cycle of types is a cycle.
    parser: 'swc',
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.mts', '.mjs', '.js', '.json', '.d.ts'], exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
  },
};
