import { mount } from 'svelte';
import App from './App.svelte';
import './style.css';

const target = document.getElementById('app');
if (!target) throw new Error('Kibitz popup: #app is missing');

export default mount(App, { target });
