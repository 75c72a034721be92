// Vite turns CSS imports into <link> tags.
declare module '*.css';

// Vite bundles `?worker` imports as a worker script of their own (served from 'self').
declare module '*?worker' {
  const WorkerConstructor: { new (): Worker };
  export default WorkerConstructor;
}
