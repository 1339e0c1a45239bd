/**
 * The end-to-end listen tests again with the pure-Node receive path (the fallback when the
 * native addon is not built): the receivers these tests spawn inherit this setting.
 */
process.env.LANTERN_NETCONSOLE_RECV = 'dgram';
await import('./listen.test.js');
