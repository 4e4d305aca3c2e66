import { mount } from 'svelte';
import App from './App.svelte';
import '../popup/style.css';

const target = document.getElementById('app');
if (!target) throw new Error('Kibitz join screen: #app is missing');

// The join screen is web-accessible (invite pages open it), so a page could frame it to trick
// a click on "Join". Framed, it shows nothing and does nothing; the engine also refuses a
// framed sender (src/extension/trust.ts).
if (window.top !== window) {
  target.textContent = 'Kibitz cannot be used inside another page. Open the invite link in its own tab.';
} else {
  mount(App, { target });
}
