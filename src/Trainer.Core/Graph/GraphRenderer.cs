using System.Diagnostics;

namespace Trainer.Core.Graph;

/// <summary>Renders DOT text to PNG or SVG with Graphviz's <c>dot</c>, when it is installed.</summary>
public static class GraphRenderer
{
    /// <summary>How long one rendering may take.</summary>
    public static TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Runs <c>dot -Tpng</c> or <c>-Tsvg</c> (chosen by <paramref name="outputPath"/>'s extension) on
    /// <paramref name="dotText"/>, writing a temporary file beside the output and renaming it into place.
    /// </summary>
    /// <param name="dotText">Graphviz DOT text, e.g. from <see cref="ModelGraph.ToDot"/>.</param>
    /// <param name="outputPath">Destination ending in .png or .svg.</param>
    /// <param name="failure">Why nothing was written (no Graphviz, unknown extension, dot error); null on success.</param>
    /// <returns>True when the file was written.</returns>
    public static bool TryRender(string dotText, string outputPath, out string? failure)
    {
        ArgumentNullException.ThrowIfNull(dotText);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        var format = Path.GetExtension(outputPath).ToLowerInvariant() switch { ".png" => "png", ".svg" => "svg", _ => null };
        if (format is null)
        {
            failure = $"cannot tell the format of '{outputPath}': use .png or .svg";
            return false;
        }
        var dot = FindDot();
        if (dot is null)
        {
            failure = "Graphviz 'dot' is not on PATH (install graphviz)";
            return false;
        }

        var full = Path.GetFullPath(outputPath);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = full + $".{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            var start = new ProcessStartInfo(dot)
            {
                RedirectStandardInput = true, RedirectStandardError = true, UseShellExecute = false,
            };
            start.ArgumentList.Add("-T" + format);
            start.ArgumentList.Add("-o");
            start.ArgumentList.Add(temp);
            using var process = Process.Start(start)!;
            var errors = process.StandardError.ReadToEndAsync();
            process.StandardInput.Write(dotText);
            process.StandardInput.Close();
            if (!process.WaitForExit(Timeout))
            {
                process.Kill(entireProcessTree: true);
                failure = $"dot did not finish within {Timeout.TotalSeconds:0} s";
                return false;
            }
            if (process.ExitCode != 0 || !File.Exists(temp))
            {
                failure = $"dot exited with code {process.ExitCode}: {errors.Result.Trim()}";
                return false;
            }
            File.Move(temp, full, overwrite: true);
            failure = null;
            return true;
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>The full path of Graphviz's dot on PATH, or null.</summary>
    public static string? FindDot()
    {
        var names = OperatingSystem.IsWindows() ? new[] { "dot.exe" } : ["dot"];
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            foreach (var name in names)
            {
                var candidate = Path.Combine(dir, name);
                if (File.Exists(candidate)) return candidate;
            }
        return null;
    }
}
