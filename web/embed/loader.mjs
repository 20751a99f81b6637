// `loadStripe` for finconn, with @stripe/stripe-js's signature: loads finconn's embed (the `/v3/` script
// of the server this module came from) once, and resolves with `Stripe(publishableKey, options)`.
//
//   import { loadStripe } from 'https://finconn.example.com/v3/loader.mjs';
//   const stripe = await loadStripe('pk_test_…');
//   const { financialConnectionsSession, error } =
//     await stripe.collectFinancialConnectionsAccounts({ clientSecret });
const EMBED = new URL('/v3/', import.meta.url).href;
let loading = null;

function embed() {
  if (window.Stripe && window.Stripe.finconn) return Promise.resolve(window.Stripe);
  if (loading) return loading;
  loading = new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = EMBED;
    script.async = true;
    script.addEventListener('load', () => {
      if (window.Stripe && window.Stripe.finconn) resolve(window.Stripe);
      else reject(new Error('finconn: the embed loaded but did not define Stripe'));
    });
    script.addEventListener('error', () => {
      loading = null;
      reject(new Error(`finconn: could not load ${EMBED}`));
    });
    document.head.appendChild(script);
  });
  return loading;
}

export function loadStripe(publishableKey, options) {
  return embed().then((Stripe) => Stripe(publishableKey, options));
}
