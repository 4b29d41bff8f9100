//! Host bindings of the `switchboard:plugin` world (`tenant-plugins/wit/plugin.wit`).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    // Every import may trap: that is how a plugin that floods the host or outlives its budget is
    // stopped in the middle of a host call.
    imports: { default: async | trappable },
    // Calls run as futures on the async workers and yield at every epoch tick, so a plugin never
    // holds a worker for more than a tick and no call needs a thread of its own.
    exports: { default: async },
});
