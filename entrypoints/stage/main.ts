import { mount } from 'svelte';
import App from './App.svelte';
import '../popup/style.css';

const target = document.getElementById('app');
if (!target) throw new Error('Kibitz stage: #app is missing');

export default mount(App, { target });
