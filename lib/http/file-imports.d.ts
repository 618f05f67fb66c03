// Bun's file loader turns `import path from "./x.js" with { type: "file" }` into the file's path.
declare module "*/standalone.js" {
  const path: string;
  export default path;
}
declare module "*.css" {
  const path: string;
  export default path;
}
declare module "*/uPlot.iife.min.js" {
  const path: string;
  export default path;
}
declare module "*/status-page.js" {
  const path: string;
  export default path;
}
