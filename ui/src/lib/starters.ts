/** The languages a classroom picks from, each with the file a new session starts with. */
export interface Starter {
  id: "python" | "javascript" | "csharp";
  label: string;
  fileName: string;
  text: string;
}

export const STARTERS: Starter[] = [
  {
    id: "python",
    label: "Python",
    fileName: "main.py",
    text: `# Welcome to Coderoom!
def greet(name):
    return f"Hello, {name}!"


print(greet("class"))
`,
  },
  {
    id: "javascript",
    label: "JavaScript",
    fileName: "main.js",
    text: `// Welcome to Coderoom!
function greet(name) {
  return \`Hello, \${name}!\`;
}

console.log(greet("class"));
`,
  },
  {
    id: "csharp",
    label: "C#",
    fileName: "Program.cs",
    text: `// Welcome to Coderoom!
using System;

class Program
{
    static string Greet(string name) => $"Hello, {name}!";

    static void Main()
    {
        Console.WriteLine(Greet("class"));
    }
}
`,
  },
];
