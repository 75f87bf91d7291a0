/**
 * SIEM export settings shared by the MailGateway schema and the rendered
 * config: CEF events over syslog (RFC 5424 messages; UDP, TCP or TLS).
 */
export const SYSLOG_TRANSPORTS = ['UDP', 'TCP', 'TLS'] as const;
export const SYSLOG_FACILITIES = ['kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp',
  'ntp', 'security', 'console', 'solaris-cron', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7'] as const;

/** The facility's number (RFC 5424 6.2.1). */
export function facilityCode(f: typeof SYSLOG_FACILITIES[number]): number {
  return SYSLOG_FACILITIES.indexOf(f);
}
