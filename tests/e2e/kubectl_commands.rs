//! Every kubectl command through the gateway (issue 5): watches, logs,
//! exec/attach/cp/port-forward over WebSocket and SPDY, apply and friends,
//! discovery, auth, raw paths, and streams ending with their token.
