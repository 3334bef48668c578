import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * JSON logs. Personal data never goes in: log ids, not emails, names, phones, tokens or codes.
 * The redact list is a safety net for fields that might slip into an object by accident.
 */
export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { service: 'rasmi', ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        'email',
        'name',
        'phone',
        'token',
        'code',
        '*.email',
        '*.name',
        '*.phone',
        '*.token',
        '*.code',
        'req.headers.authorization',
        'req.headers.cookie',
      ],
      censor: '[redacted]',
    },
  });
}
