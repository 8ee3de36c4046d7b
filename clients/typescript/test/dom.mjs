// A DOM for React Testing Library (jsdom), installed before React loads. Node's own fetch,
// streams and Blob stay: the client talks to the real server with them.
import globalJsdom from "global-jsdom";

globalJsdom(undefined, { url: "http://localhost/" });
// The hooks' state changes come from the real server's stream, at any time, not from test
// code that act() could wrap: React is told this is not an act() environment (render and
// waitFor still wrap their own work in act).
globalThis.IS_REACT_ACT_ENVIRONMENT = false;
