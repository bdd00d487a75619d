// A file tree from a document's flat paths (`src/main.py`): folders first, then files, by name.

export interface TreeNode {
  name: string;
  path: string;
  folder: boolean;
  children: TreeNode[];
}

export function buildTree(paths: string[], emptyFolders: string[] = []): TreeNode[] {
  const root: TreeNode = { name: "", path: "", folder: true, children: [] };
  const folderAt = (path: string): TreeNode => {
    let node = root;
    let so_far = "";
    for (const part of path.split("/").filter(Boolean)) {
      so_far = so_far ? `${so_far}/${part}` : part;
      let child = node.children.find((c) => c.folder && c.name === part);
      if (!child) {
        child = { name: part, path: so_far, folder: true, children: [] };
        node.children.push(child);
      }
      node = child;
    }
    return node;
  };
  for (const folder of emptyFolders) folderAt(folder);
  for (const path of paths) {
    const slash = path.lastIndexOf("/");
    const parent = folderAt(slash < 0 ? "" : path.slice(0, slash));
    parent.children.push({ name: path.slice(slash + 1), path, folder: false, children: [] });
  }
  const sort = (node: TreeNode) => {
    node.children.sort((a, b) => (a.folder === b.folder ? a.name.localeCompare(b.name) : a.folder ? -1 : 1));
    node.children.forEach(sort);
  };
  sort(root);
  return root.children;
}

/** The language Monaco and tree-sitter use for a file, from its extension. */
export function languageOf(path: string): string {
  const extension = path.slice(path.lastIndexOf(".") + 1).toLowerCase();
  const known: Record<string, string> = {
    py: "python",
    js: "javascript",
    mjs: "javascript",
    cjs: "javascript",
    cs: "csharp",
    ts: "typescript",
    json: "json",
    md: "markdown",
    html: "html",
    css: "css",
    txt: "plaintext",
  };
  return known[extension] ?? "plaintext";
}
