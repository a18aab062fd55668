/** The tests pick ports the way `frontier-signal/testing` does. */
export { freePort } from "../../src/testing/free-port.js";
