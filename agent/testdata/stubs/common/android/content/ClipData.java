package android.content;

public class ClipData {
	public static class Item {
		private final CharSequence text;

		public Item(CharSequence text) {
			this.text = text;
		}

		public CharSequence getText() {
			return text;
		}
	}

	private final CharSequence label;
	private final Item item;

	private ClipData(CharSequence label, Item item) {
		this.label = label;
		this.item = item;
	}

	public static ClipData newPlainText(CharSequence label, CharSequence text) {
		return new ClipData(label, new Item(text));
	}

	/** getDescriptionLabel stands for getDescription().getLabel(). */
	public CharSequence getDescriptionLabel() {
		return label;
	}

	public int getItemCount() {
		return 1;
	}

	public Item getItemAt(int index) {
		if (index != 0) {
			throw new IndexOutOfBoundsException();
		}
		return item;
	}
}
