using System.Globalization;
using System.Text;

namespace Trainer.Core.Tests.Data.Tabular;

/// <summary>CSV files in a temporary folder deleted on dispose.</summary>
internal sealed class CsvFiles : IDisposable
{
    public CsvFiles()
    {
        Directory = Path.Combine(Path.GetTempPath(), "trainer-csv-" + Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
    }

    public string Directory { get; }

    public string Write(string name, string text)
    {
        var path = Path.Combine(Directory, name);
        File.WriteAllText(path, text);
        return path;
    }

    /// <summary>Rows of x1, x2 (from a fixed pseudo-random sequence) and target = 3·x1 − 2·x2 + 50, exactly.</summary>
    public static string Linear(int rows, int seed = 1)
    {
        var random = new Random(seed);
        var text = new StringBuilder("x1,x2,target\n");
        for (var i = 0; i < rows; i++)
        {
            var x1 = Math.Round(random.NextDouble() * 10 - 5, 3);
            var x2 = Math.Round(random.NextDouble() * 4, 3);
            text.Append(CultureInfo.InvariantCulture, $"{x1},{x2},{3 * x1 - 2 * x2 + 50}\n");
        }
        return text.ToString();
    }

    /// <summary>Rows of a, b and a class named by the quadrant of (a, b): "left-low", "left-high", "right-low", "right-high".</summary>
    public static string Quadrants(int rows, int seed = 2)
    {
        var random = new Random(seed);
        var text = new StringBuilder("a,b,kind\n");
        for (var i = 0; i < rows; i++)
        {
            var a = Math.Round(random.NextDouble() * 2 - 1, 3);
            var b = Math.Round(random.NextDouble() * 2 - 1, 3);
            text.Append(CultureInfo.InvariantCulture, $"{a},{b},{(a < 0 ? "left" : "right")}-{(b < 0 ? "low" : "high")}\n");
        }
        return text.ToString();
    }

    public void Dispose()
    {
        if (System.IO.Directory.Exists(Directory)) System.IO.Directory.Delete(Directory, recursive: true);
    }
}
