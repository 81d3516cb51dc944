/**
 * response: persisted alerts, declarative playbooks with a blast-radius guard, reversible actions,
 * sinks (webhook, syslog, JSON lines) and streamed sensor ingest. See README.md.
 */
export { AlertStore, ALERT_STATES, rowToAlert, type AlertFilter, type AlertInput, type AlertRecord, type AlertState, type AlertStoreOptions } from './alert-store.js';
export { ResponseEngine, ACTION_STATUSES, levelOf, rowToAction, type ActionStatus, type PlannedAction, type ResponseAction, type ResponseEngineOptions } from './engine.js';
export { ACTIONS, ACTION_NAMES, DEFAULT_PLAYBOOK, READ_ONLY_TAG, SEVERITIES, matchStep, needsApproval, parsePlaybook, playbookSchema, type ActionName, type Condition, type Playbook, type ResponseInput, type Severity, type Step } from './playbook.js';
export { JsonLinesSink, SinkSet, SyslogSink, WebhookSink, SYSLOG_SD_ID, WEBHOOK_SIGNATURE_HEADER, formatSyslog, frameOctetCounting, signWebhook, sinksFromConfig, type Sink, type SinkConfig, type SinkEvent, type SinkStats } from './sinks.js';
export { INGEST_FORMATS, MAX_REJECTED_LISTED, ingestStream, type IngestOptions, type IngestResult } from './ingest.js';
