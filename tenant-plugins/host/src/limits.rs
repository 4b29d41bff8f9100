//! What one plugin call may use.

use std::time::Duration;

/// Bounds on plugins, per call and per tenant. The defaults suit a hook on the routing path.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest component accepted at upload.
    pub max_component_bytes: usize,
    /// Linear memory per instance.
    pub memory_bytes: usize,
    /// Table elements per table.
    pub table_elements: usize,
    /// Time the guest may compute per call (time in host calls is not counted).
    pub cpu_time: Duration,
    /// Time a call may take in all, host calls (HTTP) included.
    pub wall_time: Duration,
    /// Instructions-ish per call: a deterministic bound, the same on every machine.
    pub fuel: u64,
    /// Host calls (log, kv, http, ...) per call.
    pub host_calls: u32,
    /// Log lines kept per call (more are counted, not kept).
    pub log_lines: usize,
    /// Bytes of one log line or of stdout/stderr kept per call.
    pub log_bytes: usize,
    /// HTTP requests per call.
    pub http_requests: u32,
    /// Time one HTTP request may take.
    pub http_timeout: Duration,
    /// Largest HTTP request or response body.
    pub http_body_bytes: usize,
    /// Largest key-value entry (key + value).
    pub kv_value_bytes: usize,
    /// Bytes of strings a hook may answer with in all.
    pub output_bytes: usize,
    /// Calls of one tenant's plugins running at once.
    pub tenant_concurrency: usize,
    /// How long a call waits for a free slot before the default applies.
    pub queue_wait: Duration,
    /// Instances in the pool (all tenants).
    pub pool_instances: u32,
    /// Time the compile worker may take.
    pub compile_time: Duration,
    /// Address space the compile worker may use.
    pub compile_memory_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_component_bytes: 16 << 20,
            memory_bytes: 64 << 20,
            table_elements: 20_000,
            cpu_time: Duration::from_millis(100),
            wall_time: Duration::from_secs(5),
            fuel: 200_000_000,
            host_calls: 1_000,
            log_lines: 100,
            log_bytes: 2_048,
            http_requests: 5,
            http_timeout: Duration::from_secs(2),
            http_body_bytes: 256 << 10,
            kv_value_bytes: 64 << 10,
            output_bytes: 64 << 10,
            tenant_concurrency: 4,
            queue_wait: Duration::from_secs(1),
            pool_instances: 64,
            compile_time: Duration::from_secs(120),
            compile_memory_bytes: 4 << 30,
        }
    }
}
