/**
 * A domain rule that refuses what was asked: a stable machine-readable code, a title, a plain
 * sentence for the person, and the HTTP status the API answers it with (the API sends it as
 * problem+json; a job handler lets it fail the job). Use cases in core/ throw it; they never
 * import the API.
 */
export class DomainError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    readonly detail?: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(detail ?? title);
  }
}

export const notFound = (what: string) =>
  new DomainError(404, 'not_found', `${what} not found`, `No ${what.toLowerCase()} with that id belongs to you.`);
