//! Host bindings of the `switchboard:plugin` world (`tenant-plugins/wit/plugin.wit`).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "plugin",
    // Every import may trap: that is how a plugin that floods the host or outlives its budget is
    // stopped in the middle of a host call.
    imports: { default: trappable },
});
