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

        string? error = null;
        try
        {
            IO.AtomicFile.Write(outputPath, temp =>
            {
                error = RunDot(dot, format, dotText, temp);
                if (error is not null) throw new NotRendered();
            });
        }
        catch (NotRendered)
        {
            // error says why; the temporary file is gone and the output untouched.
        }
        failure = error;
        return error is null;
    }

    /// <summary>Runs dot writing <paramref name="temp"/>; returns why it failed, or null.</summary>
    private static string? RunDot(string dot, string format, string dotText, string temp)
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
            return $"dot did not finish within {Timeout.TotalSeconds:0} s";
        }
        if (process.ExitCode != 0 || !File.Exists(temp))
            return $"dot exited with code {process.ExitCode}: {errors.Result.Trim()}";
        return null;
    }

    /// <summary>Stops <see cref="IO.AtomicFile.Write"/> before the rename when dot failed.</summary>
    private sealed class NotRendered : Exception;

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
