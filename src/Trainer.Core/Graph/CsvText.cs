using System.Text;

namespace Trainer.Core.Graph;

/// <summary>CSV rows the way Python's csv.writer writes them by default (comma, minimal quoting, "\r\n" after each row).</summary>
internal static class CsvText
{
    /// <summary>The rows as one CSV text.</summary>
    public static string Write(IEnumerable<IEnumerable<string>> rows)
    {
        var text = new StringBuilder();
        foreach (var row in rows) text.Append(string.Join(",", row.Select(Field))).Append("\r\n");
        return text.ToString();
    }

    private static string Field(string value) =>
        value.IndexOfAny([',', '"', '\r', '\n']) >= 0 ? "\"" + value.Replace("\"", "\"\"") + "\"" : value;
}
