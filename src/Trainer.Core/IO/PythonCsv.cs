using System.Text;

namespace Trainer.Core.IO;

/// <summary>CSV rows the way Python's csv.writer writes them by default (comma, minimal quoting, "\r\n" after each row).</summary>
internal static class PythonCsv
{
    /// <summary>The rows as one CSV text.</summary>
    public static string Write(IEnumerable<IEnumerable<string>> rows)
    {
        var text = new StringBuilder();
        foreach (var row in rows) AppendRow(text, row);
        return text.ToString();
    }

    /// <summary>Appends one row, quoted as Python's csv.QUOTE_MINIMAL quotes, ending in "\r\n".</summary>
    public static void AppendRow(StringBuilder text, IEnumerable<string> fields) =>
        text.AppendJoin(',', fields.Select(Field)).Append("\r\n");

    private static string Field(string value) =>
        value.IndexOfAny([',', '"', '\r', '\n']) >= 0 ? "\"" + value.Replace("\"", "\"\"") + "\"" : value;
}
